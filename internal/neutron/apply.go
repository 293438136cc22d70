package neutron

// ApplyTo applies change c to a collection of R keyed by id, as the
// server's views keep them: a deletion calls remove(c.ID); any other row
// is decoded (R must be the type of c.Kind) and passed to set.
func ApplyTo[R Resource](c Change, set func(R), remove func(id string)) error {
	if c.Deletion() {
		remove(c.ID)
		return nil
	}
	r, err := Decode[R](c)
	if err != nil {
		return err
	}
	set(r)
	return nil
}
