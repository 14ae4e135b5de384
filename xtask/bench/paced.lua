--! wrk script for `cargo xtask bench ingest`: ingest.lua's load at a fixed rate. Each wrk
--! thread hands out send slots RATE_PER_THREAD times a second (wrk's delay(), timed with
--! clock_gettime through LuaJIT's ffi), to whichever of its connections is free, so the
--! offered rate holds whatever the latency, as long as enough connections are free; a slot
--! missed is not made up later. Run from this folder:
--!   wrk -s paced.lua URL -- TARGET SHAPE KEY PREFIX STARTS_AT BATCH RATE_PER_THREAD

dofile("ingest.lua")

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
int clock_gettime(int clk_id, bench_timespec_t *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec_t")

local function now_ms()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local base_init = init

function init(args)
   base_init(args)
   interval_ms = 1000 / tonumber(args[7] or "500")
   next_slot = nil
end

-- Milliseconds this connection waits before its next request: until the thread's next slot.
function delay()
   local now = now_ms()
   if next_slot == nil or next_slot < now then
      next_slot = now
   end
   local wait = next_slot - now
   next_slot = next_slot + interval_ms
   return math.floor(wait + 0.5)
end
