# VimoPlugin.cmake - vimo_add_plugin(): build one vimo plugin.
#
#   vimo_add_plugin(encoder_motion_tcn motion_tcn.c [more.c ...]
#                   [NO_INSTALL] [LIBRARIES extra link libraries ...])
#
# Makes a MODULE library named exactly NAME.so (no "lib" prefix) that links
# libvimo, writes it into ${VIMO_PLUGIN_BUILD_DIR} (where the loader of a
# build tree looks; default ${CMAKE_BINARY_DIR}/plugins) and installs it into
# ${VIMO_PLUGIN_INSTALL_DIR} (where an installed vimo looks). Symbols are
# hidden by default: only what the plugin marks VIMO_API (its descriptor, via
# VIMO_PLUGIN_DEFINE) is exported.
#
# Works in the vimo tree (links the `vimo` target) and out of tree after
# find_package(vimo), which includes this file (links `vimo::vimo`).
# See docs/plugins.md and plugins/template/README.md.
include_guard(GLOBAL)

function(vimo_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "" "LIBRARIES" ${ARGN})
  if(NOT ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "vimo_add_plugin(${name}): give at least one source file")
  endif()
  if(TARGET vimo)
    set(core vimo)
  elseif(TARGET vimo::vimo)
    set(core vimo::vimo)
  else()
    message(FATAL_ERROR "vimo_add_plugin(${name}): no vimo library target (call find_package(vimo) first)")
  endif()
  set(build_dir "${VIMO_PLUGIN_BUILD_DIR}")
  if(NOT build_dir)
    set(build_dir "${CMAKE_BINARY_DIR}/plugins")
  endif()

  add_library(${name} MODULE ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ${core} ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_STANDARD 17
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY "${build_dir}"
    # Installed next to libvimo's lib/vimo/plugins: libvimo is two levels up.
    INSTALL_RPATH "$ORIGIN/../..")

  if(VIMO_PLUGIN_INSTALL_DIR AND NOT ARG_NO_INSTALL)
    # Relative to the prefix when it lies inside it, so that
    # `cmake --install build --prefix DIR` relocates plugins with the rest.
    set(dest "${VIMO_PLUGIN_INSTALL_DIR}")
    if(IS_ABSOLUTE "${dest}" AND CMAKE_INSTALL_PREFIX)
      file(RELATIVE_PATH rel "${CMAKE_INSTALL_PREFIX}" "${dest}")
      if(NOT rel MATCHES "^\\.\\./")
        set(dest "${rel}")
      endif()
    endif()
    install(TARGETS ${name} LIBRARY DESTINATION "${dest}")
  endif()
endfunction()
