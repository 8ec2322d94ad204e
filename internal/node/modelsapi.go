package node

import "net/http"

// withModelsAPI routes /models and /models/... to models (package
// modelsapi: the orchestrator API of a node that runs its models) and
// every other path to reports.
func withModelsAPI(reports, models http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/models", models)
	mux.Handle("/models/", models)
	mux.Handle("/", reports)
	return mux
}
