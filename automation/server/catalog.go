package server

import (
	"net/http"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

// catalogMunicipalities answers the official list of municipalities (総務省),
// with the credit its terms require, so a client picks a code, a name and a
// prefecture the server will accept.
func (s *server) catalogMunicipalities(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "private, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{"attribution": municipality.Attribution, "municipalities": municipality.All()})
}

// ConfigKey describes one configuration key a registration may set.
type ConfigKey struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Default     string `json:"default,omitempty"`
	SetBy       string `json:"setBy"`
}

// catalogConfig answers the configuration keys with their defaults and who
// may set them (components/config, the one table of keys).
func (s *server) catalogConfig(w http.ResponseWriter, r *http.Request) {
	keys := []ConfigKey{}
	for _, k := range config.Keys {
		keys = append(keys, ConfigKey{Name: k.FullName(), Description: k.Description, Default: k.Default, SetBy: k.SetBy.String()})
	}
	w.Header().Set("Cache-Control", "private, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}
