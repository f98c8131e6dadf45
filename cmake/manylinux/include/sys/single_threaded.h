/* Stands in for glibc's <sys/single_threaded.h> (glibc >= 2.32), which libstdc++'s headers
   use when they find it: the manylinux_2_28 wheels target glibc 2.28. compat.c defines the
   flag as 0 ("maybe several threads"), so reference counts are always atomic. */
#pragma once
extern char __libc_single_threaded __attribute__((visibility("hidden")));
