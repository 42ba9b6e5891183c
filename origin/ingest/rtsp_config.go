package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RTSPConfig configures RTSP ingest: a server publishers push to
// (ANNOUNCE/RECORD at rtsp://HOST:PORT/APP/NAME, APP being rtmp.app) and
// sources the packager pulls as a client (cameras).
type RTSPConfig struct {
	// Listen is the RTSP (TCP) listen address used by cmd/packager. Zero
	// value: no RTSP server. The -rtsp-listen flag overrides it.
	Listen string `yaml:"listen"`
	// UDPPorts is the inclusive UDP port range "MIN-MAX" for RTP over UDP
	// (RFC 2326 12.39: RTP on an even port, RTCP on the next odd one).
	// The server takes the first pair; each pulled source takes one pair
	// per media it reads over UDP. Give replicas that share a host
	// (hostNetwork) ranges that do not overlap. Zero means "8000-8099";
	// "off" means RTP over TCP only (UDP SETUPs are refused, pulls use TCP).
	UDPPorts string `yaml:"udp_ports"`
	// UDPReadBuffer is the receive buffer (SO_RCVBUF), in bytes, of the
	// UDP sockets RTP and RTCP arrive on: the server's pair and each
	// pulled source's. Zero keeps the system's default
	// (net.core.rmem_default, 208 KiB on stock Linux), which holds under
	// 100 full-size RTP packets, a quarter of a second of a 4 Mbit/s
	// camera: a packager held up longer than that, on a busy host, loses
	// the rest. A value the system does not allow (above
	// net.core.rmem_max) stops the RTSP server or the pull with an error
	// that says so, rather than running with less.
	UDPReadBuffer int `yaml:"udp_read_buffer"`
	// ReadTimeout bounds the wait for packets from a publisher or source.
	// Zero means 10 s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// RetryMin and RetryMax bound the wait before pulling a source again
	// after it failed or dropped: it starts at RetryMin, doubles on each
	// failure up to RetryMax, and is jittered (between half and all of
	// it). Zero means 1 s and 30 s.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// Sources are pulled for as long as the packager runs.
	Sources []RTSPSource `yaml:"sources"`
}

// RTSPSource is one stream the packager pulls from an RTSP server.
type RTSPSource struct {
	// Name is the stream name it is published as (/hls/NAME.m3u8).
	Name string `yaml:"name"`
	// URL is rtsp:// or rtsps://, credentials in the user info
	// (rtsp://user:pass@camera:554/stream1).
	URL string `yaml:"url"`
	// Transport is "tcp" (RTP interleaved on the RTSP connection), "udp"
	// (from rtsp.udp_ports) or "auto" (UDP, then TCP if the server
	// refuses UDP or nothing arrives). Zero means "auto".
	Transport string `yaml:"transport"`
}

// ApplyDefaults fills in the zero fields.
func (c *RTSPConfig) ApplyDefaults() {
	if c.UDPPorts == "" {
		c.UDPPorts = "8000-8099"
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.RetryMin == 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	for i := range c.Sources {
		if c.Sources[i].Transport == "" {
			c.Sources[i].Transport = "auto"
		}
	}
}

// Validate checks a config whose defaults were applied.
func (c *RTSPConfig) Validate() error {
	var errs []error
	if _, err := ParsePortRange(c.UDPPorts); err != nil {
		errs = append(errs, fmt.Errorf("rtsp.udp_ports: %w", err))
	}
	if c.UDPReadBuffer < 0 {
		errs = append(errs, fmt.Errorf("rtsp.udp_read_buffer: %d bytes, want 0 (the system's default) or more", c.UDPReadBuffer))
	}
	if c.ReadTimeout < 0 || c.RetryMin < 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, errors.New("rtsp: read_timeout and retry_min must not be negative, retry_max not below retry_min"))
	}
	seen := map[string]bool{}
	for _, s := range c.Sources {
		if !ValidStreamName(s.Name) {
			errs = append(errs, fmt.Errorf("rtsp.sources: invalid stream name %q", s.Name))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("rtsp.sources: duplicate stream name %q", s.Name))
		}
		seen[s.Name] = true
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
			errs = append(errs, fmt.Errorf("rtsp.sources %q: url must be rtsp://HOST[:PORT]/PATH", s.Name))
		}
		switch s.Transport {
		case "tcp", "udp", "auto":
		default:
			errs = append(errs, fmt.Errorf("rtsp.sources %q: transport %q: want tcp, udp or auto", s.Name, s.Transport))
		}
		if s.Transport == "udp" && c.UDPPorts == "off" {
			errs = append(errs, fmt.Errorf("rtsp.sources %q: transport udp needs rtsp.udp_ports", s.Name))
		}
	}
	return errors.Join(errs...)
}

// PortRange is an inclusive range of UDP ports of RTP/RTCP pairs: Min is
// even, Max odd. The zero value is no range (TCP only).
type PortRange struct{ Min, Max int }

// Pairs is the number of RTP/RTCP pairs in r.
func (r PortRange) Pairs() int {
	if r.Min == 0 {
		return 0
	}
	return (r.Max - r.Min + 1) / 2
}

// ParsePortRange parses "MIN-MAX" (or "off": the zero PortRange). MIN must
// be even and the range hold whole pairs, since RTP takes the even port of
// a pair and RTCP the odd one above it (RFC 3550 11).
func ParsePortRange(s string) (PortRange, error) {
	if s == "off" {
		return PortRange{}, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return PortRange{}, fmt.Errorf("%q: want MIN-MAX or off", s)
	}
	minP, err1 := strconv.Atoi(strings.TrimSpace(lo))
	maxP, err2 := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case err1 != nil || err2 != nil:
		return PortRange{}, fmt.Errorf("%q: want MIN-MAX, two port numbers", s)
	case minP < 1024 || maxP > 65535 || maxP <= minP:
		return PortRange{}, fmt.Errorf("%q: want 1024 <= MIN < MAX <= 65535", s)
	case minP%2 != 0 || (maxP-minP+1)%2 != 0:
		return PortRange{}, fmt.Errorf("%q: MIN must be even and MAX odd (RTP/RTCP pairs)", s)
	}
	return PortRange{Min: minP, Max: maxP}, nil
}
