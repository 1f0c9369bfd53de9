-- wrk script: replays a file of pre-signed requests (bench/signed_requests.py), each request once.
--
--   wrk -t1 -c32 -d10s --latency -s bench/signed.lua http://127.0.0.1:PORT -- FILE [THREADS]
--
-- Why pre-signed and replayed once: Memo refuses a reused nonce, so a repeated request would measure the
-- refusal, not the route. init() builds every request string up front (wrk.format), so request() only hands
-- one back and wrk stays cheap. Thread k of T keeps lines k, k+T, k+2T...: no two threads send the same line.
-- wrk cannot tell a thread how many threads there are, hence THREADS (wrk's -t) as the 2nd argument.
-- A thread that runs out of lines starts over and counts a wrap: the server then answers 401, and the
-- summary's "wrapped" is > 0; generate more lines.
--
-- Last line printed, for machines ("non2xx" is wrk's count of statuses >= 400; "errors" are socket errors):
--   BENCHJSON {"requests":..,"duration_s":..,"rps":..,"p50_ms":..,"p90_ms":..,"p99_ms":..,"max_ms":..,
--              "non2xx":..,"errors":..,"wrapped":..,"lines":..}

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

local requests = {}
local count = 0
local position = 0
wraps = 0    -- globals: done() reads them per thread with thread:get()
lines = 0
nthreads = 1

local function fields(line)
   local out = {}
   for value in (line .. "\t"):gmatch("([^\t]*)\t") do out[#out + 1] = value end
   return out
end

function init(args)
   local file = assert(args[1], "usage: wrk ... -s signed.lua URL -- FILE [THREADS]")
   nthreads = tonumber(args[2] or "1")
   local me = (tid or 0) % nthreads
   local handle = assert(io.open(file, "r"))
   local header = fields(handle:read("*l") or "")
   assert(header[1] == "#memo-signed 1", file .. " is not a signed_requests.py file")
   local names = {}
   for i = 2, #header do names[#names + 1] = header[i] end
   local host = wrk.headers["Host"] or (wrk.port and (wrk.host .. ":" .. wrk.port)) or wrk.host
   local n = -1
   for line in handle:lines() do
      n = n + 1
      if n % nthreads == me then
         local f = fields(line)
         local headers = { Host = host }
         for i, name in ipairs(names) do headers[name] = f[2 + i] end
         local body = f[#names + 3]
         if body == nil or body == "" then
            body = nil
         else
            headers["Content-Type"] = "application/json"
         end
         count = count + 1
         requests[count] = wrk.format(f[1], f[2], headers, body)
      end
   end
   handle:close()
   lines = count
   assert(count > 0, "no lines for thread " .. me .. " in " .. file)
end

function request()
   position = position + 1
   if position > count then
      position = 1
      wraps = wraps + 1
   end
   return requests[position]
end

function done(summary, latency, _)
   local wrapped, total_lines = 0, 0
   for _, thread in ipairs(threads) do
      wrapped = wrapped + (tonumber(thread:get("wraps")) or 0)
      total_lines = total_lines + (tonumber(thread:get("lines")) or 0)
      if tonumber(thread:get("nthreads")) ~= #threads then
         io.write(string.format("WARNING: wrk ran %d threads, the script was told %s\n",
                                #threads, tostring(thread:get("nthreads"))))
      end
   end
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,' ..
      '"max_ms":%.3f,"non2xx":%d,"errors":%d,"wrapped":%d,"lines":%d}\n',
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout, wrapped, total_lines))
end
