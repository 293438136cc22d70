package ml2

import (
	"context"
	"fmt"
	"maps"

	"neutrino/internal/config"
	"neutrino/internal/neutron"
	"neutrino/internal/store"
)

// Quotas as Neutron's DbQuotaDriver serves them: every quota resource
// (config.QuotaResources) with the project's own limit or the [quotas]
// default. Enforcement is in the store (store.Tx.Charge).

// DefaultQuotas returns the [quotas] default of every resource.
func (p *Plugin) DefaultQuotas() map[string]int {
	d := p.st.QuotaDefaults()
	out := make(map[string]int, len(config.QuotaResources))
	for _, r := range config.QuotaResources {
		limit, ok := d[r.Name]
		if !ok {
			limit = -1 // as the store enforces it
		}
		out[r.Name] = limit
	}
	return out
}

// Quotas returns project's limits (its own, else the defaults).
func (p *Plugin) Quotas(ctx context.Context, project string) (map[string]int, error) {
	own, err := p.st.ProjectQuotas(ctx, project)
	if err != nil {
		return nil, err
	}
	return p.withDefaults(own), nil
}

func (p *Plugin) withDefaults(own map[string]int) map[string]int {
	out := p.DefaultQuotas()
	maps.Copy(out, own)
	return out
}

// AllQuotas returns the limits of every project that has its own.
func (p *Plugin) AllQuotas(ctx context.Context) (map[string]map[string]int, error) {
	all, err := p.st.AllQuotas(ctx)
	if err != nil {
		return nil, err
	}
	for project, own := range all {
		all[project] = p.withDefaults(own)
	}
	return all, nil
}

// QuotaDetails returns limit, use and reservations (always 0: creates
// count and insert in one transaction, nothing is reserved between) of
// every resource for project.
func (p *Plugin) QuotaDetails(ctx context.Context, project string) (map[string]neutron.QuotaDetail, error) {
	var limits, used map[string]int
	err := p.st.Read(ctx, func(t *store.Tx) error {
		own, err := t.ProjectQuotas(ctx, project)
		if err != nil {
			return err
		}
		limits = p.withDefaults(own)
		used, err = t.QuotaUsage(ctx, project)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("quota details of %s: %w", project, err)
	}
	out := make(map[string]neutron.QuotaDetail, len(limits))
	for res, limit := range limits {
		out[res] = neutron.QuotaDetail{Limit: limit, Used: used[res]}
	}
	return out, nil
}

// UpdateQuotas sets project's limits and returns all of them. With
// checkLimit a limit below the current use is refused, as Neutron's
// check_limit does.
func (p *Plugin) UpdateQuotas(ctx context.Context, project string, limits map[string]int, checkLimit bool) (map[string]int, error) {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		var used map[string]int
		if checkLimit {
			var err error
			if used, err = t.QuotaUsage(ctx, project); err != nil {
				return err
			}
		}
		for _, r := range config.QuotaResources {
			limit, ok := limits[r.Name]
			if !ok {
				continue
			}
			if checkLimit && used[r.Name] > limit {
				return neutron.BadRequest("Quota limit %d for %s must be greater than or equal to already used %d", limit, r.Name, used[r.Name])
			}
			if err := t.SetQuota(ctx, project, r.Name, limit); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p.Quotas(ctx, project)
}

// DeleteQuotas puts project back on the defaults; 404 TenantQuotaNotFound
// if it had no limits of its own.
func (p *Plugin) DeleteQuotas(ctx context.Context, project string) error {
	_, err := p.st.Write(ctx, func(t *store.Tx) error {
		had, err := t.DeleteQuotas(ctx, project)
		if err != nil {
			return err
		}
		if !had {
			return neutron.Errorf(404, "TenantQuotaNotFound", "Quota for tenant %s could not be found.", project)
		}
		return nil
	})
	return err
}
