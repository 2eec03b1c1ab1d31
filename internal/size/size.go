// Package size parses byte sizes written the way operators write them:
// "100000", "512KiB", "2MiB", "1GiB", and the SI forms "64KB", "1MB".
package size

import (
	"fmt"
	"strconv"
	"strings"
)

var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
	{"B", 1},
}

// Parse returns the number of bytes s denotes. It rejects negative sizes,
// fractions and sizes that overflow an int64.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes such as 100000, 512KiB or 2MiB", s)
	}
	if n > 0 && mult > (1<<63-1)/n {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

// Value is a flag.Value holding a size in bytes.
type Value int64

// String implements flag.Value.
func (v *Value) String() string { return strconv.FormatInt(int64(*v), 10) }

// Set implements flag.Value.
func (v *Value) Set(s string) error {
	n, err := Parse(s)
	if err != nil {
		return err
	}
	*v = Value(n)
	return nil
}
