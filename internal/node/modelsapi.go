package node

import "net/http"

// routes mounts the node's API: GET /metrics to metrics (Prometheus),
// /models and /models/... to models when set (package modelsapi: the
// orchestrator API of a node that runs its models) and every other path
// to reports.
func routes(reports, models, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	if models != nil {
		mux.Handle("/models", models)
		mux.Handle("/models/", models)
	}
	mux.Handle("/", reports)
	return mux
}
