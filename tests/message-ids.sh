# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced: the MESSAGE_IDs of agent/event-log.c (units/vfiod.catalog), for
# the tests that read vfiod's journal.
ID_STARTED=b40732628d4d432fa0d56efde21ee61a
ID_DONE=5f8ae3a454ad4afc8e403bc0436d225f
ID_RECOVERY=3ef91aa0538646269bc8626259abbf72
ID_DOMAIN=737eba2d64e44de29d2c0eca418f1f3a
ID_LIBVIRT=c2125c845abc43fc82e1bac8a28f97ed
ID_AGENT=a250cfc7022f4afe885a321a65e0640b
