# VimoPackage.cmake - what `cmake --install` adds for users of vimo beyond
# the targets themselves: the CMake package (find_package(vimo): imported
# targets vimo::vimo, ..., and vimo_add_plugin()), a pkg-config file
# (pkg-config --cflags --libs vimo; --variable=plugindir vimo), and
# relocatable run paths, so an install under any --prefix runs as is.
# Included once from the top-level CMakeLists.txt after core/.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

set(VIMO_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vimo)
set(VIMO_PLUGIN_INSTALL_RELDIR ${CMAKE_INSTALL_LIBDIR}/vimo/plugins)

# The executable finds libvimo in ../lib, the libraries each other in $ORIGIN.
set_target_properties(vimo_cli PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
set_target_properties(${VIMO_ALL_LIBS} PROPERTIES INSTALL_RPATH "$ORIGIN")
if(TARGET vimo_lua)
  set_target_properties(vimo_lua PROPERTIES INSTALL_RPATH "$ORIGIN")
endif()

install(EXPORT vimoTargets NAMESPACE vimo:: DESTINATION ${VIMO_CMAKE_INSTALL_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/vimoConfig.cmake.in
  ${CMAKE_BINARY_DIR}/vimoConfig.cmake
  INSTALL_DESTINATION ${VIMO_CMAKE_INSTALL_DIR}
  PATH_VARS VIMO_PLUGIN_INSTALL_RELDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/vimoConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/vimoConfig.cmake ${CMAKE_BINARY_DIR}/vimoConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/VimoPlugin.cmake
  DESTINATION ${VIMO_CMAKE_INSTALL_DIR})

# pkg-config: prefix found from the .pc file's own folder (relocatable).
file(RELATIVE_PATH VIMO_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" VIMO_PC_TO_PREFIX "${VIMO_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/vimo.pc.in ${CMAKE_BINARY_DIR}/vimo.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/vimo.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
