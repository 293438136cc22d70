package neutron

// QuotaDetail is one resource of GET /v2.0/quotas/{project_id}/details.
type QuotaDetail struct {
	Limit    int `json:"limit"`
	Used     int `json:"used"`
	Reserved int `json:"reserved"`
}
