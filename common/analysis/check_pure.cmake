# SPDX-License-Identifier: MPL-2.0
# check_pure.cmake: fails the build when the analysis library reaches past
# libc. Run by common/analysis/CMakeLists.txt after each build of the library:
#   cmake -DLIB=libtcpwin_analysis.a -DNM=nm -DSRC_DIR=common/analysis -P check_pure.cmake
# Three checks:
#   1. every #include <...> names a libc header of the list below, every
#      #include "..." a file of this folder;
#   2. no object defines writable data (nm types B, C, D, G, S): no globals,
#      no static mutable state;
#   3. every function the objects call is defined in the library or is one
#      of the libc functions below (memory and strings: no I/O, no clock;
#      the mapping calls are there for the tables' memory, huge-page hints
#      and reservations, and nothing else).
# On failure the archive is removed, so the next build checks again.

set(ALLOWED_HEADERS
    errno.h float.h inttypes.h limits.h math.h stdalign.h stdarg.h stdbool.h stddef.h stdint.h
    stdlib.h string.h sys/mman.h)
set(ALLOWED_CALLS
    memcpy memmove memset memcmp memchr malloc calloc realloc free posix_memalign aligned_alloc
    mmap munmap madvise mremap
    __stack_chk_fail __memcpy_chk __memmove_chk __memset_chk)
# Instrumentation the sanitizer and fuzzing builds add.
set(INSTRUMENTATION_PREFIX "^(__asan|__ubsan|__tsan|__sanitizer|__sancov|__lsan|___asan|__odr_asan|__llvm|__gcov)")

set(problems "")

file(GLOB sources ${SRC_DIR}/*.c ${SRC_DIR}/*.h)
foreach(src ${sources})
  file(STRINGS ${src} includes REGEX "^[ \t]*#[ \t]*include")
  get_filename_component(name ${src} NAME)
  foreach(line ${includes})
    if(line MATCHES "<([^>]+)>")
      list(FIND ALLOWED_HEADERS "${CMAKE_MATCH_1}" found)
      if(found EQUAL -1)
        string(APPEND problems "  ${name} includes <${CMAKE_MATCH_1}>, not a libc header we allow\n")
      endif()
    elseif(line MATCHES "\"([^\"]+)\"")
      if(NOT EXISTS ${SRC_DIR}/${CMAKE_MATCH_1} OR CMAKE_MATCH_1 MATCHES "/")
        string(APPEND problems "  ${name} includes \"${CMAKE_MATCH_1}\", not a file of common/analysis\n")
      endif()
    endif()
  endforeach()
endforeach()

execute_process(COMMAND ${NM} --defined-only ${LIB} OUTPUT_VARIABLE defined RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_pure: ${NM} ${LIB} failed")
endif()
execute_process(COMMAND ${NM} --undefined-only ${LIB} OUTPUT_VARIABLE undefined RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_pure: ${NM} --undefined-only ${LIB} failed")
endif()
string(REPLACE "\n" ";" defined "${defined}")
string(REPLACE "\n" ";" undefined "${undefined}")

set(known "")
foreach(line ${defined})
  if(line MATCHES "^[0-9a-fA-F]+ ([A-Za-z]) (.+)$")
    set(type ${CMAKE_MATCH_1})
    set(sym ${CMAKE_MATCH_2})
    list(APPEND known ${sym})
    if(type MATCHES "^[BbCDdGgSsVv]$" AND NOT sym MATCHES "${INSTRUMENTATION_PREFIX}" AND NOT sym MATCHES "^\\.")
      string(APPEND problems "  writable data '${sym}' (nm type ${type}): the analysis keeps no globals\n")
    endif()
  endif()
endforeach()
foreach(line ${undefined})
  if(line MATCHES "^ +U (.+)$")
    set(sym ${CMAKE_MATCH_1})
    list(FIND known ${sym} here)
    list(FIND ALLOWED_CALLS ${sym} allowed)
    if(here EQUAL -1 AND allowed EQUAL -1 AND NOT sym MATCHES "${INSTRUMENTATION_PREFIX}")
      string(APPEND problems "  calls '${sym}', outside the libc functions the analysis may use\n")
    endif()
  endif()
endforeach()

if(problems)
  file(REMOVE ${LIB})
  message(FATAL_ERROR "common/analysis must depend on libc alone:\n${problems}"
                      "(the list is in common/analysis/check_pure.cmake)")
endif()
