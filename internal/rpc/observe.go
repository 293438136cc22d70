package rpc

import "neutrino/internal/l2pop"

// L2PopConfig is the l2population configuration the server computes
// views with (trace computes the same views).
func (s *Server) L2PopConfig() l2pop.Config { return s.cfg.L2Pop }
