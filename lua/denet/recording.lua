-- recording.lua — the input of `denet stats` and `denet report`: a recorded
-- JSONL file read whole, with what both say about it on stderr.
--
--   recording.load(file [, keep]) -> records, skipped | nil
--
-- records: the file's records in order (denet.read: malformed lines are
-- skipped, untagged 0.6.1 records get a kind). keep(rec), when given,
-- decides which records count; a record it refuses is skipped like a
-- malformed line. skipped: how many lines were skipped, said once on
-- stderr ("denet: skipped N malformed lines in FILE"). A file that cannot
-- be read is one line on stderr and nil: the caller exits 1.
local read = require "denet.read"

local recording = {}

function recording.load(file, keep)
  local it, st = read(file)
  if not it then
    io.stderr:write("denet: cannot read '", file, "': ", tostring(st), "\n")
    return nil
  end
  local recs, refused = {}, 0
  for rec in it, st do
    if keep == nil or keep(rec) then
      recs[#recs + 1] = rec
    else
      refused = refused + 1
    end
  end
  local skipped = st.skipped + refused
  if skipped > 0 then
    io.stderr:write(("denet: skipped %d malformed lines in %s\n"):format(skipped, file))
  end
  return recs, skipped
end

return recording
