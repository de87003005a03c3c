/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fake GPU for whole programs: builds the umockdev testbed of the
 * workstation (a 2-function GPU on its host drivers, nvidia and
 * snd_hda_intel, in IOMMU group 13 behind a root port, and the boot iGPU),
 * starts the in-test kernel (fakekernel.c) and runs a command as its child
 * with the testbed in its environment; every process that command starts
 * under the preload (vfiod, vfioctl, shell tools) sees the fake /sys and
 * /dev and gets its uevents. It serves until the command exits and exits
 * with the command's status.
 *
 *   fakegpu [--foreign] [--dgpu-boots] [--igpu=ADDRESS] -- COMMAND [ARGS...]
 *
 * --foreign: a USB controller (0000:00:14.0, xhci_hcd) shares the GPU's
 * IOMMU group. --dgpu-boots: the GPU is the boot display, not the iGPU.
 * --igpu=ADDRESS: the iGPU sits at ADDRESS (another PCI domain, say).
 * (Both for vfioctl doctor's tests; without them the testbed is as above.)
 *
 * Re-executes itself under umockdev-wrapper when started without it.
 * SIGTERM, SIGINT and SIGHUP are passed on to the command; the command gets
 * SIGTERM when fakegpu dies. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakekernel.h"
#include "macro.h"

#define GPU "0000:01:00.0"
#define AUDIO "0000:01:00.1"
#define ROOT_PORT "0000:00:01.0"
#define IGPU "0000:00:02.0"
#define GROUP 13

/* As test-handoff.c's seed: the GPU starts on its host drivers. */
static const FakePciFunction on_host[] = {
        { .address = ROOT_PORT, .vendor = 0x8086, .device = 0xa70d, .class = 0x060400, .boot_vga = -1,
          .iommu_group = 1, .driver = "pcieport" },
        { .address = IGPU, .vendor = 0x8086, .device = 0xa780, .class = 0x030000, .boot_vga = 1,
          .iommu_group = 0, .driver = "i915" },
        { .address = GPU, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x2203, .class = 0x030000,
          .boot_vga = 0, .iommu_group = GROUP, .driver = "nvidia", .drm_card = "card1",
          .drm_render = "renderD128" },
        { .address = AUDIO, .parent = ROOT_PORT, .vendor = 0x10de, .device = 0x1aef, .class = 0x040300,
          .boot_vga = -1, .iommu_group = GROUP, .driver = "snd_hda_intel" },
};
static const char *const extra_drivers[] = { "vfio-pci", NULL };
/* --foreign: a device of another slot in the GPU's group (no ACS between them). */
static const FakePciFunction foreign = {
        .address = "0000:00:14.0", .vendor = 0x8086, .device = 0x7ae0, .class = 0x0c0330, .boot_vga = -1,
        .iommu_group = GROUP, .driver = "xhci_hcd"
};

int main(int argc, char **argv) {
        FakePciFunction functions[ELEMENTSOF(on_host) + 1];
        size_t n_functions = ELEMENTSOF(on_host);
        int a = 1;
        bool with_foreign = false, dgpu_boots = false;
        const char *igpu = NULL;

        for (; a < argc && !streq(argv[a], "--"); a++)
                if (streq(argv[a], "--foreign"))
                        with_foreign = true;
                else if (streq(argv[a], "--dgpu-boots"))
                        dgpu_boots = true;
                else if (startswith(argv[a], "--igpu="))
                        igpu = argv[a] + strlen("--igpu=");
                else
                        break;
        if (a + 1 >= argc || !streq(argv[a], "--")) {
                fprintf(stderr, "usage: %s [--foreign] [--dgpu-boots] [--igpu=ADDRESS] -- COMMAND [ARGS...]\n",
                        program_invocation_short_name);
                return 2;
        }
        memcpy(functions, on_host, sizeof(on_host));
        if (dgpu_boots)
                for (size_t i = 0; i < n_functions; i++)
                        if (functions[i].boot_vga >= 0)
                                functions[i].boot_vga = streq(functions[i].address, GPU);
        for (size_t i = 0; igpu && i < n_functions; i++)
                if (streq(functions[i].address, IGPU))
                        functions[i].address = igpu;
        if (with_foreign)
                functions[n_functions++] = foreign;
        if (fake_kernel_require_preload(argc, argv) < 0)
                return 1;
        unsetenv("VFIOD_TEST_REEXEC");  /* the command may be a test that re-executes itself */

        /* Signals are taken with sigwaitinfo() by this thread; the kernel
         * thread, created below, inherits the mask and never sees them. */
        sigset_t ss, empty;
        sigemptyset(&empty);
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return fprintf(stderr, "fakegpu: sigprocmask: %m\n"), 1;

        FakeKernel *k = fake_kernel_new(&(FakeScenario) { .functions = functions, .n_functions = n_functions,
                                                          .extra_drivers = extra_drivers });
        fprintf(stderr, "fakegpu: testbed %s: %s on nvidia, %s on snd_hda_intel, IOMMU group %d\n",
                fake_kernel_root(k), GPU, AUDIO, GROUP);

        /* fork(), not posix_spawn(): the fake kernel's pthread_atfork handler
         * keeps its thread out of the preload's lock while we fork. */
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                fprintf(stderr, "fakegpu: fork: %m\n");
                fake_kernel_free(k);
                return 1;
        }
        if (pid == 0) {
                (void) sigprocmask(SIG_SETMASK, &empty, NULL);
                /* Without its kernel the testbed is dead: so is the command. */
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(127);
                execvp(argv[a + 1], argv + a + 1);
                fprintf(stderr, "fakegpu: cannot run %s: %m\n", argv[a + 1]);
                _exit(127);
        }

        int status = 0;
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(&ss, &si);
                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "fakegpu: sigwaitinfo: %m\n");
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        break;
                }
                if (sig != SIGCHLD) {
                        (void) kill(pid, sig);
                        continue;
                }
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        break;
        }

        fake_kernel_free(k);
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}
