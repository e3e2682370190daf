package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"caduceus/internal/core/coretest"
)

// BenchmarkDeviceLogin logs in with device credentials as a ward of phones
// reconnecting would: each login is a new TCP connection, a TLS handshake,
// the greeting, LOGIN with a device credential and LOGOUT, from 8 clients
// at once, as fast as they can, over 20 accounts of one device each. It
// reports logins per second (whole connections) and the LOGIN command's
// latency percentiles:
//
//	go test ./internal/imap -run '^$' -bench DeviceLogin -benchtime 5000x
func BenchmarkDeviceLogin(b *testing.B) { benchDeviceLogin(b, 0) }

// BenchmarkDeviceLoginPaced is BenchmarkDeviceLogin at a steady 500
// logins/s, the target rate, so that the LOGIN percentiles tell the
// server's own latency rather than the wait behind saturated cores.
func BenchmarkDeviceLoginPaced(b *testing.B) { benchDeviceLogin(b, 500) }

// benchDeviceLogin runs the device login benchmark, paced at rate logins
// per second when rate is not 0.
func benchDeviceLogin(b *testing.B, rate int) {
	ts := startAuthServerB(b)
	ctx := context.Background()
	type cred struct{ addr, token string }
	var creds []cred
	for i := range 20 {
		a := coretest.User(b, ts.svc, fmt.Sprintf("u%02d", i), "User")
		_, token, err := ts.svc.AddDevice(ctx, a, a.Address, "phone")
		if err != nil {
			b.Fatal(err)
		}
		creds = append(creds, cred{a.Address, token})
	}
	const workers = 8
	var mu sync.Mutex
	var lat []time.Duration
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			for i := range next {
				c := creds[i%len(creds)]
				d, err := deviceLoginOnce(ts.addr, c.addr, c.token)
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, d)
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		}
		select {
		case next <- i:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

func startAuthServerB(b *testing.B) *testServer {
	b.Helper()
	svc := coretest.New(b, coretest.Options{DevicesOnly: true})
	srv := NewServer(svc, Options{Hostname: "imap.test", TLS: testTLS(b), ImplicitTLS: true, MaxConnsPerIP: 10000})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &testServer{svc: svc, srv: srv, addr: ln.Addr().String()}
}

// deviceLoginOnce connects over implicit TLS, logs in with a device
// credential, logs out, and returns how long LOGIN took.
func deviceLoginOnce(addr, user, token string) (time.Duration, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	if _, err := br.ReadString('\n'); err != nil {
		return 0, err
	}
	start := time.Now()
	fmt.Fprintf(conn, "a LOGIN %s %s\r\n", user, token)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if strings.HasPrefix(l, "a ") {
			if !strings.HasPrefix(l, "a OK") {
				return 0, fmt.Errorf("LOGIN: %s", l)
			}
			break
		}
	}
	d := time.Since(start)
	fmt.Fprintf(conn, "b LOGOUT\r\n")
	return d, nil
}
