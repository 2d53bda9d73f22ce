# check_generate.cmake - runs `vimo generate` and compares its stdout with the
# expected text followed by one newline, as llama2.c's test_all.py compares
# ./run's stdout with expected_stdout.
#   -DVIMO=<exe> -DARGS=<args separated by |>
#   and one of: -DEXPECTED=<file with the text>, -DEXPECT_TEXT=<text>,
#               -DMD=<markdown> -DMD_AFTER=<end of the command line in the md>
#               (the text is the code block after that line, up to "```").
string(REPLACE "|" ";" args "${ARGS}")
execute_process(COMMAND ${VIMO} generate ${args} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "vimo generate exited with ${rc}: ${err}")
endif()
if(DEFINED EXPECTED)
  file(READ "${EXPECTED}" want)
elseif(DEFINED EXPECT_TEXT)
  set(want "${EXPECT_TEXT}")
else()
  file(READ "${MD}" md)
  string(FIND "${md}" "${MD_AFTER}\n" at)
  if(at LESS 0)
    message(FATAL_ERROR "'${MD_AFTER}' not found in ${MD}")
  endif()
  string(LENGTH "${MD_AFTER}\n" skip)
  math(EXPR at "${at} + ${skip}")
  string(SUBSTRING "${md}" ${at} -1 rest)
  string(FIND "${rest}" "\n```" end)
  string(SUBSTRING "${rest}" 0 ${end} want)
endif()
string(APPEND want "\n")
if(NOT "${out}" STREQUAL "${want}")
  message(FATAL_ERROR "stdout differs from the reference.\n--- got ---\n${out}--- want ---\n${want}---")
endif()
message(STATUS "stdout matches the reference (${MD}${EXPECTED}${EXPECT_TEXT})")
