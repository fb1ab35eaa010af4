package bench

import (
	"time"
)

// Run measures every section of cfg and returns the report, its summary
// filled in.
func Run(cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := &Report{
		Machine: DescribeMachine(),
		Settings: Settings{Quick: cfg.Quick, Runs: cfg.Runs, DurationSeconds: cfg.Duration.Seconds(), Sections: cfg.Sections,
			Clients: cfg.Clients, BulkBytes: cfg.BulkBytes, BulkMessage: cfg.BulkMessage, EchoMessage: cfg.EchoMessage},
		Started: time.Now().UTC().Truncate(time.Second),
	}
	steps := []struct {
		section string
		run     func(*Report) error
	}{
		{SectionKEM, cfg.measureKEM},
		{SectionHandshake, cfg.measureHandshakes},
		{SectionBulk, cfg.measureBulk},
		{SectionEcho, cfg.measureEcho},
		{SectionLegacy, cfg.measureLegacy},
		{SectionScale, cfg.measureIdle},
		{SectionScale, cfg.measureSweep},
		{SectionTunnel, cfg.measureTunnel},
	}
	for _, st := range steps {
		if !cfg.has(st.section) {
			continue
		}
		if err := st.run(r); err != nil {
			return nil, err
		}
	}
	r.Settings.LoadAvgEnd = loadAvg()
	r.ElapsedSeconds = time.Since(r.Started).Seconds()
	r.Summary = summarize(r)
	return r, nil
}
