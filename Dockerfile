# The tkn-multi image (the CLI, and `operator run` for manifests/deployment.yaml). Not built in
# CI (no registry there); see docs/operator.md.
#   docker build -t <registry>/tkn-multi:0.1.0 . && docker push <registry>/tkn-multi:0.1.0
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tkn-multi

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tkn-multi /usr/local/bin/tkn-multi
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tkn-multi"]
CMD ["operator", "run"]
