GO ?= go

.PHONY: build test demo vet proto

build:
	$(GO) build -o bin/neutrino ./cmd/neutrino

# Installs Debian packages and Go modules as needed, starts PostgreSQL and
# MariaDB on 127.0.0.1 for the run, runs go vet and all tests (as root).
test:
	bash scripts/test.sh

# The seed's walkthrough on an embedded SQLite database, in namespaces.
demo: build
	bash scripts/deps.sh
	./bin/neutrino demo $(DEMOFLAGS)

vet:
	$(GO) vet ./...

# Needs protoc (Debian protobuf-compiler) and the Go plugins at the pinned
# versions: go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
# google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
proto:
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --go_out=. --go_opt=module=neutrino --go-grpc_out=. --go-grpc_opt=module=neutrino internal/rpc/pb/neutrino.proto
