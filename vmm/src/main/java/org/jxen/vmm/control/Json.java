package org.jxen.vmm.control;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.core.util.MinimalPrettyPrinter;

/**
 * The JSON the control socket and {@code jxen bench --json} speak, through Jackson's streaming core: objects (Map, in
 * order), arrays (List), strings, numbers (Long, or Double with a fraction or exponent), booleans and null.
 *
 * <p>A control-socket client may be hostile, so {@link #parseRequest} is bounded by {@link StreamReadConstraints}
 * (nesting, string, name and number lengths, tokens, the document itself) on top of the server's own line limit; strict
 * UTF-8, no duplicate member names, no trailing data, integers within a long. Every violation is a
 * {@link ParseException}, never anything else.
 * Written JSON has a space after each ':' and ',' on one line, as the protocol's replies always had.
 */
public final class Json {
    /** Malformed or over-limit input: the message says what and where. */
    public static final class ParseException extends Exception {
        ParseException(String message) {
            super(message);
        }
    }

    /** Deeper than any request of the protocol needs. */
    static final int MAX_DEPTH = 32;
    /** A long has at most 20 characters; a double written by Java at most 24. */
    static final int MAX_NUMBER_LENGTH = 32;
    static final int MAX_NAME_LENGTH = 256;
    /** Command names and arguments are short. */
    static final int MAX_STRING_LENGTH = 4096;
    /** A request is a handful of tokens. */
    static final int MAX_TOKENS = 4096;
    /** No more than the control socket accepts in one line. */
    static final int MAX_DOCUMENT = ControlServer.MAX_LINE;

    /** For requests from a control-socket client: every limit set. */
    private static final JsonFactory REQUESTS = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_DEPTH)
                    .maxNumberLength(MAX_NUMBER_LENGTH)
                    .maxNameLength(MAX_NAME_LENGTH)
                    .maxStringLength(MAX_STRING_LENGTH)
                    .maxDocumentLength(MAX_DOCUMENT)
                    .maxTokenCount(MAX_TOKENS)
                    .build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();
    /**
     * For what jxen wrote itself (a reply read by {@code jxen events}, a test): Jackson's default limits, since a
     * port list of a large FIFO guest is longer than any request may be.
     */
    private static final JsonFactory TRUSTED = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(StreamWriteFeature.WRITE_BIGDECIMAL_AS_PLAIN)
            .build();

    private Json() {}

    /** Parses one JSON value that jxen wrote (a reply line, a bench report). */
    public static Object parse(String text) throws ParseException {
        try (JsonParser p = TRUSTED.createParser(text)) {
            return document(p);
        } catch (IOException e) {
            throw failure(e);
        }
    }

    /**
     * Parses one request from a control-socket client: {@code length} bytes of UTF-8 as they came off the socket,
     * within this class's limits.
     */
    public static Object parseRequest(byte[] utf8, int length) throws ParseException {
        try (JsonParser p = REQUESTS.createParser(utf8, 0, length)) {
            return document(p);
        } catch (IOException e) {
            throw failure(e);
        }
    }

    private static Object document(JsonParser p) throws IOException, ParseException {
        JsonToken first = p.nextToken();
        if (first == null) throw new ParseException("no JSON value");
        Object v = value(p, first);
        if (p.nextToken() != null) throw new ParseException("trailing data after the value" + at(p.currentLocation()));
        return v;
    }

    /** The value starting at token {@code t}; recursion is bounded by the parser's nesting limit. */
    private static Object value(JsonParser p, JsonToken t) throws IOException, ParseException {
        return switch (t) {
            case START_OBJECT -> {
                Map<String, Object> m = new LinkedHashMap<>();
                String name;
                while ((name = p.nextFieldName()) != null) m.put(name, value(p, next(p)));
                yield m;
            }
            case START_ARRAY -> {
                List<Object> l = new ArrayList<>();
                JsonToken e;
                while ((e = next(p)) != JsonToken.END_ARRAY) l.add(value(p, e));
                yield l;
            }
            case VALUE_STRING -> p.getText();
            case VALUE_NUMBER_INT -> {
                if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                    throw new ParseException("integer out of range" + at(p.currentTokenLocation()));
                }
                yield p.getLongValue();
            }
            case VALUE_NUMBER_FLOAT -> p.getDoubleValue();
            case VALUE_TRUE -> Boolean.TRUE;
            case VALUE_FALSE -> Boolean.FALSE;
            case VALUE_NULL -> null;
            default -> throw new ParseException("unexpected " + t + at(p.currentTokenLocation()));
        };
    }

    private static JsonToken next(JsonParser p) throws IOException, ParseException {
        JsonToken t = p.nextToken();
        if (t == null) throw new ParseException("unexpected end of input");
        return t;
    }

    private static ParseException failure(IOException e) {
        // Jackson's own message names the limit or the syntax error; its location is added in our words.
        String what = e instanceof JsonProcessingException j ? j.getOriginalMessage() + at(j.getLocation()) : e.toString();
        return new ParseException(what);
    }

    private static String at(JsonLocation where) {
        if (where == null) return "";
        long offset = where.getCharOffset() >= 0 ? where.getCharOffset() : where.getByteOffset();
        return offset >= 0 ? " at offset " + offset : "";
    }

    /**
     * Serializes maps, lists, strings, numbers (a {@link BigDecimal} as written, so a caller controls the digits),
     * booleans and null; anything else as its string.
     */
    public static String write(Object v) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = TRUSTED.createGenerator(out)) {
            g.setPrettyPrinter(new OneLine());
            write(v, g);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.toString();
    }

    private static void write(Object v, JsonGenerator g) throws IOException {
        switch (v) {
            case null -> g.writeNull();
            case String s -> g.writeString(s);
            case Boolean b -> g.writeBoolean(b);
            case BigDecimal d -> g.writeNumber(d);
            case BigInteger i -> g.writeNumber(i);
            case Double d -> g.writeNumber(d);
            case Float f -> g.writeNumber(f);
            case Number n -> g.writeNumber(n.longValue());
            case Map<?, ?> m -> {
                g.writeStartObject();
                for (var e : m.entrySet()) {
                    g.writeFieldName(String.valueOf(e.getKey()));
                    write(e.getValue(), g);
                }
                g.writeEndObject();
            }
            case List<?> l -> {
                g.writeStartArray();
                for (Object o : l) write(o, g);
                g.writeEndArray();
            }
            default -> g.writeString(v.toString());
        }
    }

    /** {@code {"a": 1, "b": [2, 3]}}: one line, a space after each separator. */
    private static final class OneLine extends MinimalPrettyPrinter {
        @Override
        public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(": ");
        }

        @Override
        public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }

        @Override
        public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(", ");
        }
    }
}
