# Vigil: a small, non-root image with the binary, the starter rules and the example configurations.
#   docker build -t vigil .
#   docker run --rm vigil rules test /etc/vigil/rules
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vigil ./cmd/vigil \
 && /out/vigil rules validate configs/rules configs/rules-intel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY --from=build /src/configs/rules /etc/vigil/rules
COPY --from=build /src/configs/rules-intel /etc/vigil/rules-intel
COPY --from=build /src/configs/enrich /etc/vigil/enrich
COPY --from=build /src/configs/*.yaml /etc/vigil/
COPY --from=build /src/configs/samples /etc/vigil/samples
WORKDIR /var/lib/vigil
USER nonroot:nonroot
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["run", "-c", "/etc/vigil/docker.yaml"]
