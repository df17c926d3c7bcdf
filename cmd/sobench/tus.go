package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// tusClient is the one tus 1.0.0 client of the bench, the same for every server measured:
// a creation POST, then PATCH requests of at most chunk bytes streamed from the source.
type tusClient struct {
	http  *http.Client
	token string // sent as a bearer token when set
	chunk int64
	// beforeLast, when set, is called before the last PATCH, the one that finishes the upload.
	beforeLast func()
}

// upload sends src to a new upload at endpoint and returns the upload's URL.
func (c *tusClient) upload(ctx context.Context, endpoint string, src source, meta map[string]string) (string, error) {
	loc, _, err := c.uploadTimed(ctx, endpoint, src, meta)
	return loc, err
}

// uploadTimed is upload that also returns how long each PATCH took.
func (c *tusClient) uploadTimed(ctx context.Context, endpoint string, src source, meta map[string]string) (string, []time.Duration, error) {
	loc, err := c.create(ctx, endpoint, src.size, meta)
	if err != nil {
		return "", nil, err
	}
	var patches []time.Duration
	for off := int64(0); off < src.size; {
		n := min(c.chunk, src.size-off)
		if off+n == src.size && c.beforeLast != nil {
			c.beforeLast()
		}
		start := time.Now()
		next, err := c.patch(ctx, loc, off, src.reader(off, n), n)
		if err != nil {
			return "", nil, err
		}
		patches = append(patches, time.Since(start))
		if next != off+n {
			return "", nil, fmt.Errorf("tus: PATCH at %d of %d bytes: server is at offset %d", off, n, next)
		}
		off = next
	}
	return loc, patches, nil
}

func (c *tusClient) create(ctx context.Context, endpoint string, size int64, meta map[string]string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return "", err
	}
	c.headers(req)
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", encodeMetadata(meta))
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("tus: create: %w", err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("tus: create: %s", describe(resp))
	}
	base, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return "", fmt.Errorf("tus: create: no usable Location header")
	}
	return loc.String(), nil
}

// patch sends n bytes of body at offset off and returns the server's new offset.
func (c *tusClient) patch(ctx context.Context, loc string, off int64, body io.Reader, n int64) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	c.headers(req)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("tus: PATCH at %d: %w", off, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusNoContent {
		return 0, fmt.Errorf("tus: PATCH at %d: %s", off, describe(resp))
	}
	next, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tus: PATCH at %d: bad Upload-Offset %q", off, resp.Header.Get("Upload-Offset"))
	}
	return next, nil
}

func (c *tusClient) headers(req *http.Request) {
	req.Header.Set("Tus-Resumable", "1.0.0")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// encodeMetadata builds an Upload-Metadata header: "key base64(value)" pairs (the key
// alone for an empty value), sorted by key.
func encodeMetadata(meta map[string]string) string {
	pairs := make([]string, 0, len(meta))
	for k, v := range meta {
		if v == "" {
			pairs = append(pairs, k)
			continue
		}
		pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// describe names a response's status and the start of its body, for error messages.
func describe(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
}

// drain reads what is left of a small response and closes it, so the connection is reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	resp.Body.Close()                                     // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
}
