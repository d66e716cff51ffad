-- POST the same JSON body on every request; the body file and token come from the environment.
wrk.method = "POST"
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("WRK_TOKEN")
if token and #token > 0 then
  wrk.headers["Authorization"] = "Token " .. token
end
