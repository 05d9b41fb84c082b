// A Go LLM API client for the end-to-end tests: crypto/tls (no OpenSSL), one
// keep-alive HTTP/1.1 connection, N requests. Standard library only, so it
// builds offline: go build -o go_client main.go
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	base := flag.String("base-url", "", "https://127.0.0.1:PORT")
	ca := flag.String("ca", "", "CA certificate (PEM)")
	api := flag.String("api", "anthropic", "anthropic | openai-chat")
	stream := flag.Bool("stream", false, "ask for a streamed response")
	n := flag.Int("requests", 1, "requests on one connection")
	h2 := flag.Bool("http2", false, "let Go negotiate HTTP/2 (its default); HTTP/1.1 otherwise")
	flag.Parse()

	pem, err := os.ReadFile(*ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: 1,
		ForceAttemptHTTP2:   *h2,
	}
	if !*h2 {
		// HTTP/1.1 only: an empty TLSNextProto map turns Go's automatic HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: tr}
	for i := 0; i < *n; i++ {
		var path, body string
		headers := map[string]string{"content-type": "application/json"}
		switch *api {
		case "anthropic":
			path = "/v1/messages"
			body = fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":%v,"messages":[{"role":"user","content":"hello from go %d"}]}`, *stream, i)
			headers["x-api-key"] = "sk-test"
			headers["anthropic-version"] = "2023-06-01"
		case "openai-chat":
			path = "/v1/chat/completions"
			opts := ""
			if *stream {
				opts = `,"stream_options":{"include_usage":true}`
			}
			body = fmt.Sprintf(`{"model":"gpt-4o-mini","stream":%v%s,"messages":[{"role":"user","content":"hello from go %d"}]}`, *stream, opts, i)
			headers["authorization"] = "Bearer sk-test"
		default:
			fmt.Fprintln(os.Stderr, "unknown api", *api)
			os.Exit(2)
		}
		req, _ := http.NewRequest("POST", strings.TrimRight(*base, "/")+path, bytes.NewBufferString(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode/100 != 2 {
			fmt.Fprintln(os.Stderr, "request failed:", resp.Status, err)
			os.Exit(1)
		}
		fmt.Printf("{\"i\":%d,\"status\":%d,\"proto\":%q,\"body_bytes\":%d}\n", i, resp.StatusCode, resp.Proto, len(b))
	}
}
