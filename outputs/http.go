package outputs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ruled/ruled/sources/event"
)

// httpSink posts alerts: webhook outputs post alert JSON (an array when
// batching), falco outputs post one Falco alert per request, the body
// falcosidekick's POST / accepts.
type httpSink struct {
	url     string
	falco   bool
	batch   bool
	headers http.Header
	timeout time.Duration
	client  *http.Client
	buf     bytes.Buffer
}

func newHTTPSink(sp Spec, timeout time.Duration) (*httpSink, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if sp.CAFile != "" {
		pem, err := os.ReadFile(sp.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", sp.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if sp.InsecureSkipVerify {
		tlsConf.InsecureSkipVerify = true
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = 4
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "ruled")
	for k, v := range sp.Headers {
		// Secrets come from the environment, not the config file.
		h.Set(k, os.ExpandEnv(v))
	}
	return &httpSink{
		url:     sp.URL,
		falco:   sp.Kind == KindFalco,
		batch:   sp.BatchSize > 1,
		headers: h,
		timeout: timeout,
		client:  &http.Client{Transport: tr},
	}, nil
}

func (s *httpSink) write(ctx context.Context, batch []event.Alert) (int, error) {
	if s.batch {
		s.buf.Reset()
		s.buf.WriteByte('[')
		for i := range batch {
			if i > 0 {
				s.buf.WriteByte(',')
			}
			b, err := json.Marshal(toFalco(&batch[i], true))
			if err != nil {
				return 0, &permanentError{fmt.Errorf("encode alert %q: %w", batch[i].Rule, err)}
			}
			s.buf.Write(b)
		}
		s.buf.WriteByte(']')
		if err := s.post(ctx); err != nil {
			return 0, err
		}
		return len(batch), nil
	}
	for i := range batch {
		b, err := json.Marshal(toFalco(&batch[i], !s.falco))
		if err != nil {
			return i, &permanentError{fmt.Errorf("encode alert %q: %w", batch[i].Rule, err)}
		}
		s.buf.Reset()
		s.buf.Write(b)
		if err := s.post(ctx); err != nil {
			return i, err
		}
	}
	return len(batch), nil
}

// post sends s.buf. 2xx is success; 429, 5xx and transport errors are
// transient; any other status is permanent.
func (s *httpSink) post(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(s.buf.Bytes()))
	if err != nil {
		return &permanentError{fmt.Errorf("request: %w", err)}
	}
	req.Header = s.headers.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL may carry a token in its query: name the host only.
		return fmt.Errorf("post to %s: %w", req.URL.Host, unwrapURLError(err))
	}
	// Read a little so the connection can be reused; the body is for logs.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("post to %s: %s: %s", req.URL.Host, resp.Status, strings.TrimSpace(string(snippet)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			return &retryAfterError{err: err, after: time.Duration(secs) * time.Second}
		}
		return err
	}
	return &permanentError{err}
}

// unwrapURLError drops url.Error's wrapping, whose message repeats the full
// URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

func (s *httpSink) close() error {
	s.client.CloseIdleConnections()
	return nil
}

// retryAfterError is a transient failure whose server asked for a minimum
// delay (Retry-After in seconds) before the next attempt.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }
