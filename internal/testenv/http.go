package testenv

import (
	"net/http"
	"time"
)

func httpGet(u string) (int, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	return resp.StatusCode, nil
}
