# secondopinion — see README.md.
SHELL := /bin/bash
GO    ?= go

.PHONY: build run test bench vet fmt clean

build: ## the one binary, bin/secondopinion
	$(GO) build -trimpath -o bin/secondopinion ./cmd/secondopinion

run: build ## install and start PostgreSQL and MinIO under .data/, then serve on http://127.0.0.1:8080
	bash .ci/dev.sh

test: ## go vet and every test, against a throwaway PostgreSQL and MinIO
	bash .ci/test.sh

bench: build ## the performance figures of DESIGN §11, as ratios measured in one run
	bash .ci/bench.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
