-- .luacheckrc — luacheck over every Lua file of denet (make lua-check).
-- Lua 5.4, as embedded by denet and as the busted specs run.
std = "lua54"
-- What denet's embedded runtime gives a script besides the standard
-- library: the `arg` table (docs/lua-api.md, "Running scripts"). The
-- API itself comes from require "denet", never from a global.
read_globals = { "arg" }
-- Code lines stay under 120 columns; long strings hold HTML, CSS, JS and
-- JSON fixtures whose lines are what they are.
max_code_line_length = 120
max_comment_line_length = 120
max_string_line_length = false
-- An argument named _x is unused on purpose (a callback's fixed signature).
ignore = { "212/_.*" }
exclude_files = { "build/", ".git/" }

-- The specs run under busted (describe, it, assert, pending, setup, ...).
-- Their shell lines and expected texts read best unbroken: 160 columns.
files["tests/spec"] = { std = "+busted", max_code_line_length = 160 }
