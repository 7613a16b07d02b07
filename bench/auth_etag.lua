-- wrk script: the bearer token from $TOKEN and If-None-Match from $ETAG (304s).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["If-None-Match"] = os.getenv("ETAG")
