package size

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "100000", want: 100000},
		{in: "0", want: 0},
		{in: "512KiB", want: 512 << 10},
		{in: "2MiB", want: 2 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "64KB", want: 64000},
		{in: "1MB", want: 1000000},
		{in: "10B", want: 10},
		{in: " 4K ", want: 4096},
		{in: "", bad: true},
		{in: "-1", bad: true},
		{in: "1.5MiB", bad: true},
		{in: "MiB", bad: true},
		{in: "12XB", bad: true},
		{in: "9999999999999GiB", bad: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("Parse(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
