# secondopinion — see README.md.
SHELL := /bin/bash
GO    ?= go

.PHONY: build ui run test bench vet fmt clean

build: ui ## the one binary, bin/secondopinion, with the browser bundles embedded
	$(GO) build -trimpath -o bin/secondopinion ./cmd/secondopinion

ui: ## the pages' browser bundles (web/static/dist) from the locked npm packages
	bash -c '. .ci/lib.sh; so_ui_bundle'

run: build ## install and start PostgreSQL and MinIO under .data/, then serve on http://127.0.0.1:8080
	bash .ci/dev.sh

test: ## go vet, staticcheck, gosec and every test, against a throwaway PostgreSQL and MinIO
	bash .ci/test.sh

bench: build ## the performance figures of DESIGN §11, as ratios measured in one run
	bash .ci/bench.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin web/static/dist
