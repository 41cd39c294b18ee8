# SPDX-License-Identifier: GPL-3.0-or-later
# CPack pre-build script: after CPack's own strip, drop the .comment and .note sections from the
# staged binary, as Debian's dh_strip does (lintian: binary-has-unneeded-section).
file(GLOB_RECURSE _ctl_bins "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*/sbin/*")
if(NOT _ctl_bins)
  message(FATAL_ERROR "strip.cmake: no binary under ${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*/sbin")
endif()
foreach(bin IN LISTS _ctl_bins)
  execute_process(COMMAND "${CPACK_CTLABELD_STRIP}" --remove-section=.comment --remove-section=.note "${bin}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "strip.cmake: '${CPACK_CTLABELD_STRIP}' failed on ${bin}")
  endif()
endforeach()
