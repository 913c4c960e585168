# SPDX-License-Identifier: MPL-2.0
# web.cmake: the web view of `tcpwin-subscriber serve` (included by the top
# CMakeLists.txt): libmicrohttpd, and the page and its assets compiled into
# the subscriber library as a generated C file (embed.cmake).
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
set(WEB_FILES index.html app.js style.css vendor/uplot/uPlot.iife.min.js
    vendor/uplot/uPlot.min.css vendor/uplot/LICENSE)
string(REPLACE ";" "," WEB_FILE_ARG "${WEB_FILES}")
set(WEB_DEPENDS "")
foreach(rel ${WEB_FILES})
  list(APPEND WEB_DEPENDS ${CMAKE_SOURCE_DIR}/subscriber/web/${rel})
endforeach()
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/web_assets.c
  COMMAND ${CMAKE_COMMAND} -DOUT=${CMAKE_BINARY_DIR}/web_assets.c
          -DROOT=${CMAKE_SOURCE_DIR}/subscriber/web -DFILES=${WEB_FILE_ARG}
          -P ${CMAKE_SOURCE_DIR}/subscriber/web/embed.cmake
  DEPENDS ${WEB_DEPENDS} ${CMAKE_SOURCE_DIR}/subscriber/web/embed.cmake
  COMMENT "Embedding the web view" VERBATIM)
target_sources(tcpwin_subscriber_lib PRIVATE ${CMAKE_BINARY_DIR}/web_assets.c)
target_include_directories(tcpwin_subscriber_lib PUBLIC ${CMAKE_SOURCE_DIR}/subscriber/web)
target_link_libraries(tcpwin_subscriber_lib PUBLIC PkgConfig::MHD)
