package origin

import (
	"fmt"
	"reflect"
)

// Reload applies a new config to a running server. Publish authorisation
// (stream keys, the on_publish hook) changes for the next publish; a
// publisher already live keeps streaming. Everything else shapes streams
// and listeners that are running, so it must equal the running config, or
// the reload is rejected as a whole and needs a restart.
func (s *Server) Reload(cfg Config) error {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	auth := cfg.Auth
	cur := s.cfg
	cur.Auth, cfg.Auth = AuthConfig{}, AuthConfig{}
	cur.RTMP.Listen, cfg.RTMP.Listen = "", "" // the command's listeners, not the server's
	cur.HTTP.Listen, cfg.HTTP.Listen = "", ""
	cur.RTSP.Listen, cfg.RTSP.Listen = "", ""
	cur.SRT.Listen, cfg.SRT.Listen = "", ""
	if !reflect.DeepEqual(cur, cfg) {
		return fmt.Errorf("%w: only auth can change without a restart", ErrInvalidConfig)
	}
	s.ingest.SetAuth(auth)
	return nil
}
