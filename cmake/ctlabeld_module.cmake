# SPDX-License-Identifier: GPL-3.0-or-later
# One helper for every library, executable and test: same standard, warnings and sanitizers.
set(CTLABELD_WARNINGS -Wall -Wextra -Wconversion -Wshadow)
option(CTLABELD_HARDENING "Build with Debian's hardening flags (fortify, stack protector, relro/now)" ON)

function(ctlabeld_apply_common target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${CTLABELD_WARNINGS}>)
  if(CTLABELD_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${CTLABELD_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=${CTLABELD_SANITIZE})
  elseif(CTLABELD_HARDENING AND NOT CTLABELD_FUZZ)
    # Debian's default hardening (dpkg-buildflags), which lintian checks on the package: fortified
    # libc calls (they need optimisation, hence not in Debug), stack protector, read-only
    # relocations bound at start-up. Not with sanitizers (nor the fuzz build, which has ASan): they
    # intercept the same libc calls.
    target_compile_options(${target} PRIVATE -fstack-protector-strong
                                             "$<$<NOT:$<CONFIG:Debug>>:-U_FORTIFY_SOURCE;-D_FORTIFY_SOURCE=2>")
    target_link_options(${target} PRIVATE LINKER:-z,relro LINKER:-z,now)
  endif()
endfunction()

# ctlabeld_module(NAME SOURCES ... DEPS ...): a static library ctlabeld_<NAME>.
function(ctlabeld_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(ctlabeld_${name} STATIC ${ARG_SOURCES})
  target_include_directories(ctlabeld_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(ctlabeld_${name} PUBLIC ${ARG_DEPS})
  ctlabeld_apply_common(ctlabeld_${name})
endfunction()

# ctlabeld_test(NAME SOURCES ... DEPS ... [LABELS ...]): a Catch2 v2 executable registered with CTest.
function(ctlabeld_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ctlabeld_catch_main ${ARG_DEPS})
  ctlabeld_apply_common(${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${ARG_LABELS}"
                                          WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
