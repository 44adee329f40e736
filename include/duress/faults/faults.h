/* SPDX-License-Identifier: MIT */
/* The registered faults, one line each (X-macro; see fault.h). */
FAULT(fault_freeze)
FAULT(fault_cpu)
FAULT(fault_memory)
FAULT(fault_io)
FAULT(fault_disk_fill)
FAULT(fault_network)
FAULT(fault_http)
FAULT(fault_tcp)
FAULT(fault_kill)
FAULT(fault_stop_desc) /* "stop" (fault_stop is the driver's) */
FAULT(fault_dns)
FAULT(fault_postgres)
FAULT(fault_mysql)
FAULT(fault_connections)
