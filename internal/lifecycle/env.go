package lifecycle

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// EnvName is the environment variable standing in for a flag: prefix
// EDGECACHE_ and flag -foo-bar give EDGECACHE_FOO_BAR.
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// SetFromEnv sets every flag of fs not given on the command line from its
// environment variable, if that is set, so a flag beats the environment.
// It returns the flags now set either way. getenv is os.LookupEnv in
// production; nil means no environment.
func SetFromEnv(fs *flag.FlagSet, prefix string, getenv func(string) (string, bool)) (map[string]bool, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if getenv == nil {
		return set, nil
	}
	var errs error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(prefix, f.Name)
		v, ok := getenv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = errors.Join(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			return
		}
		set[f.Name] = true
	})
	return set, errs
}
