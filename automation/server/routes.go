package server

import (
	_ "embed"
	"net/http"

	"github.com/cats-analytics/cats-analytics/automation/web"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the API's OpenAPI document.
func OpenAPI() []byte { return openAPI }

// routes lists every route of the API in one place.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	route := mux.HandleFunc
	authed := func(pattern string, h http.HandlerFunc) { route(pattern, s.authenticate(h)) }

	route("GET /healthz", s.healthz)
	route("GET /readyz", s.readyz)
	authed("GET /metrics", s.metricsEndpoint)
	route("GET /v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPI)
	})

	authed("POST /v1/municipalities", s.createMunicipality)
	authed("GET /v1/municipalities", s.listMunicipalities)
	authed("GET /v1/municipalities/{code}", s.getMunicipality)
	authed("DELETE /v1/municipalities/{code}", s.deleteMunicipality)
	authed("POST /v1/municipalities/{code}/{env}/jobs", s.createJob)
	authed("GET /v1/municipalities/{code}/{env}/jobs", s.listJobs)
	authed("GET /v1/jobs/{id}", s.getJob)
	authed("POST /v1/jobs/{id}/cancel", s.cancelJob)
	authed("GET /v1/jobs/{id}/events", s.jobEvents)
	s.fleetRoutes(authed) // fleet.go

	// The console (automation/web) on the API's origin, and what it needs
	// beyond the API: sign-in sessions and the catalogs a registration picks from.
	route("POST /v1/session", s.signIn)
	authed("GET /v1/session", s.whoAmI)
	authed("DELETE /v1/session", s.signOut)
	authed("GET /v1/catalog/municipalities", s.catalogMunicipalities)
	authed("GET /v1/catalog/config", s.catalogConfig)
	console := web.New(s.isTLS)
	for _, page := range web.Pages {
		route("GET "+page, console.Page)
	}
	route("GET /assets/{file...}", console.Asset)
	return s.instrument(mux)
}
