package server

import (
	"context"
	"fmt"

	"caduceus/internal/directory"
	"caduceus/internal/ldap"
)

// openDirectory opens the directory of health professionals for the web app
// and the LDAP view, and closes it when the node stops, after the listeners
// that use it.
func (s *Server) openDirectory(ctx context.Context) error {
	d, err := directory.Open(ctx, s.Store, s.Config.DataDir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	s.dir = d
	s.onStop(func(context.Context) error { return d.Close() })
	return nil
}

// Directory returns the node's directory of health professionals.
func (s *Server) Directory() *directory.Directory { return s.dir }

// startLDAP serves the read-only LDAP view of the directory, with STARTTLS;
// a bind checks the account's password through the core, like every door.
func (s *Server) startLDAP(addr string) error {
	ln, err := s.listen("ldap", addr)
	if err != nil {
		return err
	}
	check := func(ctx context.Context, remote, login, password string) error {
		_, err := s.Core.Login(ctx, "ldap", remote, login, password)
		return err
	}
	srv, err := ldap.NewServer(s.dir, check, ldap.Options{
		BaseDN: s.Config.Directory.LDAPBaseDN, TLSConfig: s.TLS.Clone(),
		Anonymous: s.Config.Directory.LDAPAnonymous, Logger: s.log.With("door", "ldap"),
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("ldap: %w", err)
	}
	s.serve("ldap", func() error { return srv.Serve(ln) })
	s.onStop(srv.Shutdown)
	return nil
}
