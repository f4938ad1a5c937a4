namespace Hub.IntegrationTests.Infrastructure;

/// <summary>One field of a protobuf message: its number, and either its varint/fixed value or its length-delimited bytes.</summary>
public readonly record struct ProtoField(int Number, int WireType, ulong Value, ReadOnlyMemory<byte> Bytes)
{
    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    public string Text => System.Text.Encoding.UTF8.GetString(Bytes.Span);
}

/// <summary>
/// The protobuf wire format, read field by field: enough to walk an OTLP export request down to the few
/// fields the suite looks at, without the generated OpenTelemetry.Proto types (not on the package feed).
/// Each field is a varint tag (number &lt;&lt; 3 | wire type) followed by a varint, 8 or 4 bytes, or a varint
/// length and that many bytes (strings, bytes, nested messages, packed repeated fields).
/// </summary>
public static class Protobuf
{
    public static IEnumerable<ProtoField> Fields(ReadOnlyMemory<byte> message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var tag = ReadVarint(message.Span, ref position);
            var number = checked((int)(tag >> 3));
            var wireType = (int)(tag & 7);
            switch (wireType)
            {
                case ProtoField.Varint:
                    yield return new ProtoField(number, wireType, ReadVarint(message.Span, ref position), default);
                    break;
                case ProtoField.Fixed64:
                    Need(message, position, 8);
                    yield return new ProtoField(number, wireType, BitConverter.ToUInt64(message.Span.Slice(position, 8)), message.Slice(position, 8));
                    position += 8;
                    break;
                case ProtoField.LengthDelimited:
                    var length = checked((int)ReadVarint(message.Span, ref position));
                    Need(message, position, length);
                    yield return new ProtoField(number, wireType, 0, message.Slice(position, length));
                    position += length;
                    break;
                case ProtoField.Fixed32:
                    Need(message, position, 4);
                    yield return new ProtoField(number, wireType, BitConverter.ToUInt32(message.Span.Slice(position, 4)), message.Slice(position, 4));
                    position += 4;
                    break;
                default:
                    throw new FormatException($"wire type {wireType} (field {number}) at byte {position}: not protobuf, or groups (which OTLP does not use)");
            }
        }
    }

    /// <summary>The length-delimited fields numbered <paramref name="number"/> (nested messages, strings, bytes).</summary>
    public static IEnumerable<ReadOnlyMemory<byte>> Messages(ReadOnlyMemory<byte> message, int number) =>
        Fields(message).Where(f => f.Number == number && f.WireType == ProtoField.LengthDelimited).Select(f => f.Bytes);

    public static ReadOnlyMemory<byte>? First(ReadOnlyMemory<byte> message, int number) =>
        Messages(message, number).Select(m => (ReadOnlyMemory<byte>?)m).FirstOrDefault();

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= data.Length) throw new FormatException("a varint runs past the end of the message");
            var b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new FormatException("a varint longer than 10 bytes");
    }

    private static void Need(ReadOnlyMemory<byte> message, int position, int length)
    {
        if (length < 0 || position + length > message.Length)
            throw new FormatException($"a field of {length} bytes at byte {position} runs past the end of a {message.Length}-byte message");
    }
}
