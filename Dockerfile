# The kerris controller image for users. The test bed builds the same layout
# without a Docker engine (test/testbed/kerris-image.ts).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY src ./src
USER 65532:65532
ENTRYPOINT ["node"]
CMD ["/app/src/controller/main.ts"]
