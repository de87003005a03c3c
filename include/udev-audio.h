/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vfioctl udev-audio ADDRESS: the program of rules/71-vfiod-audio.rules
 * (IMPORT{program}). ADDRESS is the PCI function a sound card sits on; with
 * [Desktop] HideGpuAudio=yes and ADDRESS a function of the GPU's slot, it
 * prints the properties that make the sound servers leave the card alone
 * (ACP_IGNORE=1, PULSE_IGNORE=1), else nothing. argv[0] is "udev-audio".
 * Exit: 0 (printed or not), 1 no GPU found, 2 bad usage, 3 invalid config. */
int udev_audio_main(int argc, char *argv[]);
