# SPDX-License-Identifier: GPL-3.0-or-later
# Install layout and the Debian package (CPack DEB): binary, unit, config, man page, examples.
# Included at the end of the root CMakeLists.txt.

include(GNUInstallDirs)

# The daemon's compiled-in default is /etc/ctlabeld/actions.json, so configuration goes to /etc
# whatever the prefix (GNUInstallDirs would say /usr/local/etc for the default prefix).
set(CTLABELD_SYSCONFDIR "/etc" CACHE PATH "Where the ctlabeld/ configuration directory is installed")
set(_ctl_confdir "${CTLABELD_SYSCONFDIR}/ctlabeld")
set(_ctl_examples "${CMAKE_INSTALL_DOCDIR}/examples")

# The systemd unit and its options file. <prefix>/lib/systemd/system: /usr/lib/systemd/system for
# the package (bookworm's systemd reads it), /usr/local/lib/systemd/system for a local install.
install(FILES ${PROJECT_SOURCE_DIR}/systemd/ctlabeld.service DESTINATION lib/systemd/system)

# The man page, compressed as Debian policy wants it (-n: no timestamp, reproducible).
find_program(CTLABELD_GZIP gzip REQUIRED)
set(_ctl_man_gz ${PROJECT_BINARY_DIR}/doc/ctlabeld.8.gz)
add_custom_command(OUTPUT ${_ctl_man_gz}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/doc
  COMMAND ${CTLABELD_GZIP} -9 -n -c ${PROJECT_SOURCE_DIR}/doc/ctlabeld.8 > ${_ctl_man_gz}
  DEPENDS ${PROJECT_SOURCE_DIR}/doc/ctlabeld.8
  COMMENT "Compressing the ctlabeld(8) man page"
  VERBATIM)
add_custom_target(ctlabeld_man ALL DEPENDS ${_ctl_man_gz})
install(FILES ${_ctl_man_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# Configuration files: source path = installed path = name of the copy among the examples.
# protos.txt is optional in the tree.
set(_ctl_conffiles
  "${PROJECT_SOURCE_DIR}/etc/ctlabeld/actions.json=${_ctl_confdir}/actions.json=actions.json"
  "${PROJECT_SOURCE_DIR}/etc/ctlabeld/ctlabeld.nft=${_ctl_confdir}/ctlabeld.nft=ctlabeld.nft"
  "${PROJECT_SOURCE_DIR}/etc/ctlabeld/netify-names.tsv=${_ctl_confdir}/netify-names.tsv=netify-names.tsv"
  "${PROJECT_SOURCE_DIR}/etc/ctlabeld/app_rules.conf=${_ctl_confdir}/app_rules.conf=app_rules.conf"
  "${PROJECT_SOURCE_DIR}/systemd/ctlabeld.default=${CTLABELD_SYSCONFDIR}/default/ctlabeld=default.ctlabeld")
if(EXISTS ${PROJECT_SOURCE_DIR}/etc/ctlabeld/protos.txt)
  list(APPEND _ctl_conffiles "${PROJECT_SOURCE_DIR}/etc/ctlabeld/protos.txt=${_ctl_confdir}/protos.txt=protos.txt")
endif()

# `cmake --install` never replaces a configuration file that is already there: the admin's edits
# win, and the shipped version lands in the examples directory for comparison. For the .deb, CPack
# installs into an empty staging directory, so the package always carries the files and dpkg's
# conffile handling protects the admin's edits on upgrade.
set(_ctl_conffile_list "")
foreach(entry IN LISTS _ctl_conffiles)
  string(REPLACE "=" ";" pair "${entry}")
  list(GET pair 0 src)
  list(GET pair 1 dst)
  list(GET pair 2 example_name)
  get_filename_component(dst_dir "${dst}" DIRECTORY)
  get_filename_component(dst_name "${dst}" NAME)
  install(CODE "
    if(EXISTS \"\$ENV{DESTDIR}${dst}\")
      message(STATUS \"Keeping existing: \$ENV{DESTDIR}${dst} (the shipped one is \${CMAKE_INSTALL_PREFIX}/${_ctl_examples}/${example_name})\")
    else()
      file(INSTALL DESTINATION \"${dst_dir}\" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
           RENAME \"${dst_name}\" FILES \"${src}\")
    endif()")
  install(FILES "${src}" DESTINATION ${_ctl_examples} RENAME "${example_name}")
  string(APPEND _ctl_conffile_list "${dst}\n")
endforeach()

# An example only: the system's connlabel.conf may already name other labels.
install(FILES ${PROJECT_SOURCE_DIR}/etc/connlabel.conf DESTINATION ${_ctl_examples})

# The licence in Debian's machine-readable form, and the changelog, gzipped as Debian policy
# wants it. The package version comes from project(), so the changelog's newest entry must name
# the same version: a mismatch stops the configure step instead of shipping a stale changelog.
set(_ctl_changelog ${PROJECT_SOURCE_DIR}/cmake/deb/changelog)
file(STRINGS ${_ctl_changelog} _ctl_changelog_head LIMIT_COUNT 1)
set(_ctl_changelog_version "")
if(_ctl_changelog_head MATCHES "^ctlabeld \\(([^)]+)\\)")
  set(_ctl_changelog_version "${CMAKE_MATCH_1}")
endif()
if(NOT _ctl_changelog_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "${_ctl_changelog}:1: the newest entry is for version '${_ctl_changelog_version}', "
                      "but project() says ${PROJECT_VERSION}: add an entry 'ctlabeld (${PROJECT_VERSION}) "
                      "unstable; urgency=medium' at the top (dch -v ${PROJECT_VERSION} -c ${_ctl_changelog}).")
endif()
set(_ctl_changelog_gz ${PROJECT_BINARY_DIR}/deb/changelog.gz)
add_custom_command(OUTPUT ${_ctl_changelog_gz}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/deb
  COMMAND ${CTLABELD_GZIP} -9 -n -c ${_ctl_changelog} > ${_ctl_changelog_gz}
  DEPENDS ${_ctl_changelog}
  COMMENT "Compressing the Debian changelog"
  VERBATIM)
add_custom_target(ctlabeld_changelog ALL DEPENDS ${_ctl_changelog_gz})
install(FILES ${_ctl_changelog_gz} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/cmake/deb/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- CPack: Debian package ---------------------------------------------------------------------
set(CPACK_PACKAGE_NAME "ctlabeld")
set(CPACK_PACKAGE_VENDOR "ctlabeld project")
# A vendor that packages its own build puts its own address here (-DCTLABELD_DEB_MAINTAINER=...).
set(CTLABELD_DEB_MAINTAINER "ctlabeld maintainers <maintainers@ctlabeld.org>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${CTLABELD_DEB_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "classify connections with nDPI and label them in conntrack")
# Lines of at most 72 characters: lintian wants the extended description within 80 columns.
set(CPACK_PACKAGE_DESCRIPTION
    "ctlabeld watches the first packets of each connection (libpcap or\n"
    "nflog), identifies the application with nDPI, evaluates Netify-style\n"
    "flow-action rules and writes conntrack label bits, so nftables rules\n"
    "can match them with 'ct label NAME' (for example to set DSCP).\n"
    "Ships a hardened systemd unit, an example actions file and an\n"
    "nftables table.")
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
# Strip as dh_strip does, also dropping the compilers' .comment and .note sections.
set(CPACK_PRE_BUILD_SCRIPTS ${PROJECT_SOURCE_DIR}/cmake/deb/strip.cmake)
set(CPACK_CTLABELD_STRIP "${CMAKE_STRIP}")
set(CPACK_GENERATOR "DEB")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Runtime libraries (libpcap, libndpi, libnetfilter-conntrack, libmnl, libcap, ...) from
# dpkg-shlibdeps; the tools the documentation uses are recommended, not required.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nftables, conntrack")

# conffiles lists the /etc files; the maintainer scripts only tell a running systemd about the
# unit. They write no system file: connlabel.conf is the admin's (see ctlabeld(8)).
set(_ctl_deb_dir ${PROJECT_BINARY_DIR}/deb)
file(WRITE ${_ctl_deb_dir}/conffiles "${_ctl_conffile_list}")
foreach(script postinst prerm postrm)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/deb/${script} ${_ctl_deb_dir}/${script} COPYONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_ctl_deb_dir}/conffiles;${_ctl_deb_dir}/postinst;${_ctl_deb_dir}/prerm;${_ctl_deb_dir}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
