-- wrk: every request is POST with an empty body (the function is called without input).
wrk.method = "POST"
wrk.body = ""
