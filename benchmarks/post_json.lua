-- wrk script: POST one JSON body with a bearer token, the same request on every connection.
-- Usage: wrk ... -s benchmarks/post_json.lua <url> -- <token> <json body>
-- The token and body come as arguments so that neither is written into this file.

function init(args)
   wrk.method = "POST"
   wrk.body = args[2]
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. args[1]
end
