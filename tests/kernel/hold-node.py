#!/usr/bin/env python3
"""Holds a device node the way desktop programs do, for the real-kernel tests:
  hold-node.py fd PATH       an open fd (read-write when it can, else read-only)
  hold-node.py mmap PATH     a shared mapping of it, the fd closed (fbdev)
  hold-node.py dumb PATH     a DRM dumb buffer mapped, the fd closed (what a
                             compositor's scan-out buffer looks like)
  hold-node.py inflight PATH the open file sent over a socket to nobody and
                             the fd closed: no process has it in its fd
                             table, the kernel keeps it open in the socket
  hold-node.py con2fb C FB   not a holder: puts console C on framebuffer FB
Writes "ready PID" to stdout once it holds, then waits until stdin closes."""
import ctypes
import fcntl
import mmap
import os
import socket
import struct
import sys

FBIOPUT_CON2FBMAP = 0x4610
DRM_IOCTL_MODE_CREATE_DUMB = 0xC02064B2  # _IOWR('d', 0xB2, struct drm_mode_create_dumb)
DRM_IOCTL_MODE_MAP_DUMB = 0xC01064B3     # _IOWR('d', 0xB3, struct drm_mode_map_dumb)


def map_shared(fd, size, offset=0):
    """mmap(2) itself: Python's mmap module keeps a dup of the fd, and then the
    process would hold the node by an fd too."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, offset)
    if addr in (None, ctypes.c_void_p(-1).value):
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, offset)
    if addr in (None, ctypes.c_void_p(-1).value):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return addr


def open_node(path):
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    keep = []
    if mode == "con2fb":
        fd = os.open("/dev/fb0", os.O_RDWR | os.O_CLOEXEC)
        fcntl.ioctl(fd, FBIOPUT_CON2FBMAP, struct.pack("II", int(path), int(sys.argv[3])))
        os.close(fd)
        return
    fd = open_node(path)
    if mode == "fd":
        keep.append(fd)
    elif mode == "mmap":
        keep.append(map_shared(fd, 4096))
        os.close(fd)
    elif mode == "dumb":
        # struct drm_mode_create_dumb: height, width, bpp, flags; handle, pitch; size
        arg = bytearray(struct.pack("IIIIIIQ", 64, 64, 32, 0, 0, 0, 0))
        fcntl.ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, arg)
        handle, size = struct.unpack_from("I", arg, 16)[0], struct.unpack_from("Q", arg, 24)[0]
        # struct drm_mode_map_dumb: handle, pad; offset
        m = bytearray(struct.pack("IIQ", handle, 0, 0))
        fcntl.ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, m)
        offset = struct.unpack_from("Q", m, 8)[0]
        keep.append(map_shared(fd, size, offset))
        os.close(fd)
    elif mode == "inflight":
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        socket.send_fds(a, [b"x"], [fd])
        os.close(fd)
        keep += [a, b]
    else:
        sys.exit("hold-node: unknown mode " + mode)
    print("ready", os.getpid(), flush=True)
    sys.stdin.read()


main()
