# The passcom peer in an image built FROM scratch: no registry is needed to build it.
# Build the static binary first (scripts/docker-build does both steps):
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked \
#     --target x86_64-unknown-linux-gnu -p passcom
#   cp target/x86_64-unknown-linux-gnu/release/passcom docker/passcom
#   docker build -t passcom:latest docker/ -f Dockerfile
FROM scratch
COPY passcom /passcom
EXPOSE 7000 8080
VOLUME ["/data"]
ENTRYPOINT ["/passcom"]
CMD ["--help"]
