/* SPDX-License-Identifier: MIT */
/* The registered faults, one line each (X-macro; see fault.h). */
FAULT(fault_freeze)
